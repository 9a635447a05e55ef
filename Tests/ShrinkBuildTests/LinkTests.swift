import Testing
import ShrinkBuild

@Test func ShrinkBuildLinks() { #expect(String(describing: ShrinkBuildModule.self) == "ShrinkBuildModule") }
