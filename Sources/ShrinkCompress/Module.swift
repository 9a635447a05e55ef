/// The ShrinkCompress module; see ../../README.md for the architecture.
public enum ShrinkCompressModule {}
