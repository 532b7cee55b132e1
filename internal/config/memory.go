package config

// Memory configures retention, consolidation, recall and search.
type Memory struct{}

func memoryKeys() []key { return nil }
