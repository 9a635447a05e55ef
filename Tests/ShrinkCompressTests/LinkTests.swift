import Testing
import ShrinkCompress

@Test func ShrinkCompressLinks() { #expect(String(describing: ShrinkCompressModule.self) == "ShrinkCompressModule") }
