/// The ShrinkGraph module; see ../../README.md for the architecture.
public enum ShrinkGraphModule {}
