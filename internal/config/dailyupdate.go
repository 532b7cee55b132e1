package config

// DailyUpdate configures the scheduled morning, midnight and evening updates.
type DailyUpdate struct{}

func dailyUpdateKeys() []key { return nil }
