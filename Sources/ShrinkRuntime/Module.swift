/// The ShrinkRuntime module; see ../../README.md for the architecture.
public enum ShrinkRuntimeModule {}
