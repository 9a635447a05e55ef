import Testing
import ShrinkPipeline

@Test func ShrinkPipelineLinks() { #expect(String(describing: ShrinkPipelineModule.self) == "ShrinkPipelineModule") }
