/// The ShrinkPipeline module; see ../../README.md for the architecture.
public enum ShrinkPipelineModule {}
