import Testing
import ShrinkRuntime

@Test func ShrinkRuntimeLinks() { #expect(String(describing: ShrinkRuntimeModule.self) == "ShrinkRuntimeModule") }
