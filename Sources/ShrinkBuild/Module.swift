/// The ShrinkBuild module; see ../../README.md for the architecture.
public enum ShrinkBuildModule {}
