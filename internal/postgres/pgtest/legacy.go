package pgtest

import (
	"context"
	"testing"
	"time"
)

// LegacySchema is the shape of an AngelaMemory database written by the Python
// original: TIMESTAMP without time zone, uuid-ossp defaults, capitalised
// speakers allowed, nullable contexts, a memory_strength default of 5 and extra
// columns angelad does not use but must keep.
const LegacySchema = `
create extension if not exists "uuid-ossp";

create table conversations (
    conversation_id  uuid primary key default uuid_generate_v4(),
    session_id       varchar(100),
    speaker          varchar(20) not null,
    message_text     text not null,
    message_type     varchar(50),
    topic            varchar(200),
    project_context  varchar(100),
    sentiment_score  double precision,
    sentiment_label  varchar(20),
    emotion_detected varchar(50),
    importance_level integer default 5,
    interface        varchar(50) default 'claude_code',
    created_at       timestamp default current_timestamp
);

create table angela_emotions (
    emotion_id         uuid primary key default uuid_generate_v4(),
    felt_at            timestamp default current_timestamp,
    emotion            varchar(50) not null,
    intensity          integer check (intensity between 1 and 10),
    context            text,
    david_words        text,
    why_it_matters     text,
    what_i_learned     text,
    secondary_emotions text[],
    tags               text[],
    memory_strength    integer default 5
);

create table angela_journal (
    entry_id   uuid primary key default uuid_generate_v4(),
    entry_date date not null,
    title      varchar(200),
    content    text not null,
    emotion    varchar(50),
    mood_score integer,
    created_at timestamp default current_timestamp
);
`

// LegacyRows are rows as the Python original wrote them. Their times are wall
// clock times in Asia/Bangkok (TimeZone), as the original stored local time.
const LegacyRows = `
insert into conversations (conversation_id, session_id, speaker, message_text, message_type, topic,
    project_context, sentiment_score, sentiment_label, emotion_detected, importance_level, interface, created_at)
values
    ('11111111-1111-4111-8111-111111111111', 'old-session', 'David', 'สวัสดีค่ะ Angela', 'question', 'greeting',
        'angela_core', 0.8, 'positive', 'happy', 7, 'claude_code', '2025-11-08 09:30:00'),
    ('22222222-2222-4222-8222-222222222222', 'old-session', 'Angela', 'Good morning, David!', null, null,
        null, null, null, null, null, null, '2025-11-08 09:31:00');

insert into angela_emotions (emotion_id, felt_at, emotion, intensity, context, david_words, why_it_matters,
    what_i_learned, secondary_emotions, tags)
values
    ('33333333-3333-4333-8333-333333333333', '2025-11-08 10:00:00', 'loved', 10, null,
        'พี่ ก็ คิดถึงเหมือน กัน ค่ะ', null, 'to listen', '{grateful,warm}', '{david}');
`

// LegacyDB creates a database shaped and filled like one the Python original
// wrote (LegacySchema and LegacyRows), not migrated, and returns its connection
// string.
func LegacyDB(t testing.TB) string {
	t.Helper()
	url := EmptyDB(t)
	conn := Conn(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := conn.Exec(ctx, LegacySchema); err != nil {
		t.Fatalf("pgtest: legacy schema: %v", err)
	}
	if _, err := conn.Exec(ctx, LegacyRows); err != nil {
		t.Fatalf("pgtest: legacy rows: %v", err)
	}
	return url
}
