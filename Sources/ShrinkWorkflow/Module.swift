/// The ShrinkWorkflow module: the compression application on top of the ShrinkBuild engine.
public enum ShrinkWorkflowModule {}
