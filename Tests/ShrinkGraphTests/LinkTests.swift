import Testing
import ShrinkGraph

@Test func ShrinkGraphLinks() { #expect(String(describing: ShrinkGraphModule.self) == "ShrinkGraphModule") }
