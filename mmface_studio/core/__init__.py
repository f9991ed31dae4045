"""Qt-free document model: parameter spaces, performances, projects."""
