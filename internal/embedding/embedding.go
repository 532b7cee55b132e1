// Package embedding owns ranking memories by meaning when the user runs an
// embedding server: the client of that server (Ollama's /api/embed or an
// OpenAI-compatible /v1/embeddings), the memory_embeddings table that keeps
// every memory's vector under its model, the daemon's worker that embeds new
// memories in the background and backfills old ones, and Nearest, which
// embeds a question and returns the memories closest to it by cosine.
//
// Nothing here is on the capture path: memories are stored without a model
// call and embedded afterwards. Without a configured server (embedding.url
// empty) nothing here runs, and retrieval is lexical only.
package embedding

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/google/uuid"
)

// The kinds of memory, as memory_embeddings.kind and memory.Hit.Kind name
// them.
const (
	KindConversation = "conversation"
	KindEmotion      = "emotion"
)

// Ref names one memory.
type Ref struct {
	Kind string    `json:"kind"`
	ID   uuid.UUID `json:"id"`
}

// Pack returns v as stored: its float32 values, little-endian, side by side.
func Pack(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

// Unpack reads a stored vector of dims values into dst (grown as needed) and
// returns it.
func Unpack(dst []float32, b []byte, dims int) ([]float32, error) {
	if len(b) != 4*dims {
		return nil, fmt.Errorf("a stored vector of %d bytes is not %d float32 values", len(b), dims)
	}
	dst = dst[:0]
	for i := 0; i < dims; i++ {
		dst = append(dst, math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:])))
	}
	return dst, nil
}

// dotPacked is the dot product of q and a stored vector, read in place: the
// cosine, both being of unit length. len(b) is 4*len(q).
func dotPacked(q []float32, b []byte) float32 {
	b = b[:4*len(q)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(q); i += 4 {
		o := b[4*i : 4*i+16]
		s0 += q[i] * math.Float32frombits(binary.LittleEndian.Uint32(o[0:]))
		s1 += q[i+1] * math.Float32frombits(binary.LittleEndian.Uint32(o[4:]))
		s2 += q[i+2] * math.Float32frombits(binary.LittleEndian.Uint32(o[8:]))
		s3 += q[i+3] * math.Float32frombits(binary.LittleEndian.Uint32(o[12:]))
	}
	for ; i < len(q); i++ {
		s0 += q[i] * math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return (s0 + s1) + (s2 + s3)
}

// dot is the dot product of two vectors of one length.
func dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}
