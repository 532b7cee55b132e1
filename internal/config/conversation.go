package config

// Conversation configures capturing conversations from the assistant's transcript files and draining the spool.
type Conversation struct{}

func conversationKeys() []key { return nil }
