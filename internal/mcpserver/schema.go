package mcpserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.uber.org/zap"

	"github.com/angela-ai/angelad/internal/conversation"
)

// speakers are the speakers a message may have, as the tools name them.
var speakers = []string{conversation.SpeakerDavid, conversation.SpeakerAngela, conversation.SpeakerSystem}

// A constraint states in an argument's schema something the tool's
// validation allows of it, so that a client (or the model) can tell before
// it calls.
type constraint func(*jsonschema.Schema)

// args are a tool's constraints, by argument name.
type args map[string][]constraint

// between states an integer's range.
func between(lo, hi int) constraint {
	return func(s *jsonschema.Schema) {
		s.Minimum, s.Maximum = new(float64(lo)), new(float64(hi))
	}
}

// chars states a text's length in characters; hi 0 leaves it unbounded (a
// text bounded in bytes, which a schema cannot state).
func chars(lo, hi int) constraint {
	return func(s *jsonschema.Schema) {
		if lo > 0 {
			s.MinLength = new(lo)
		}
		if hi > 0 {
			s.MaxLength = new(hi)
		}
	}
}

// oneOf states the values a text may take.
func oneOf(values ...string) constraint {
	return func(s *jsonschema.Schema) {
		s.Enum = nil
		for _, v := range values {
			s.Enum = append(s.Enum, v)
		}
	}
}

// byDefault states the value an argument left out takes.
func byDefault(v any) constraint {
	return func(s *jsonschema.Schema) {
		s.Default, _ = json.Marshal(v)
	}
}

// format states a text's format ("date-time" for RFC 3339, "date", "uuid").
func format(f string) constraint {
	return func(s *jsonschema.Schema) { s.Format = f }
}

// inputSchema returns the schema of the arguments In holds, as a client reads
// it: each argument of one type (an optional integer is "integer", not
// ["null", "integer"], which strict clients refuse), and what the tool allows
// of it as c states. A constraint for an argument In lacks is a mistake that
// New panics on.
func inputSchema[In any](c args) *jsonschema.Schema {
	s, err := jsonschema.For[In](nil)
	if err != nil {
		panic(fmt.Sprintf("the schema of %T: %v", *new(In), err))
	}
	for _, p := range s.Properties {
		if i := slices.Index(p.Types, "null"); i >= 0 && len(p.Types) == 2 {
			p.Type, p.Types = p.Types[1-i], nil
		}
	}
	for name, cs := range c {
		p := s.Properties[name]
		if p == nil {
			panic(fmt.Sprintf("a constraint for %q, which %T does not have", name, *new(In)))
		}
		for _, f := range cs {
			f(p)
		}
	}
	return s
}

// reads are the annotations of a tool that only reads memory.
func reads(title string) *mcp.ToolAnnotations {
	return &mcp.ToolAnnotations{Title: title, ReadOnlyHint: true, IdempotentHint: true, OpenWorldHint: new(false)}
}

// saves are the annotations of a save: it adds a record and changes none.
// It is not idempotent as clients read the hint: the same arguments without
// an id store a second record (with an id they store nothing new).
func saves(title string) *mcp.ToolAnnotations {
	return &mcp.ToolAnnotations{Title: title, DestructiveHint: new(false), OpenWorldHint: new(false)}
}

// addTool adds the tool t, whose arguments In holds and c constrains, served
// by h. It reads the arguments itself rather than letting the SDK check them
// against the schema, so that a call the schema would refuse gets the same
// error naming the argument and what is allowed as any other invalid call;
// it logs a failed call once, here where it is handled.
//
// h's text is what the model reads. Its structured result, when not nil, is
// the same records for programs; a tool whose result is a message to the
// model (the recall pack, a save's answer) must give none, because Claude
// Code shows the model the structured content instead of the text whenever
// there is some.
func addTool[In any](s *Server, t *mcp.Tool, c args, h mcp.ToolHandlerFor[In, any]) {
	schema := inputSchema[In](c)
	t.InputSchema = schema
	s.srv.AddTool(t, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		in, err := decodeArgs[In](req.Params.Arguments, schema)
		var res *mcp.CallToolResult
		var out any
		if err == nil {
			res, out, err = h(ctx, req, in)
		}
		if err != nil {
			s.o.Log.Info("tool call failed", zap.String("tool", t.Name), zap.Error(err))
			res = &mcp.CallToolResult{}
			res.SetError(err)
			return res, nil
		}
		if res == nil {
			res = &mcp.CallToolResult{}
		}
		if out != nil {
			res.StructuredContent = out
		}
		return res, nil
	})
}

// decodeArgs reads a call's arguments into In: a JSON object of the
// arguments schema has, or none.
func decodeArgs[In any](raw json.RawMessage, schema *jsonschema.Schema) (In, error) {
	var in In
	if raw = bytes.TrimSpace(raw); len(raw) == 0 || string(raw) == "null" {
		return in, nil
	}
	var given map[string]json.RawMessage
	if err := json.Unmarshal(raw, &given); err != nil {
		return in, errors.New("invalid arguments: must be a JSON object of the tool's arguments")
	}
	for name := range given {
		if schema.Properties[name] == nil {
			return in, fmt.Errorf("invalid argument %s: there is no such argument; the arguments are %s", name, strings.Join(schema.PropertyOrder, ", "))
		}
	}
	if err := json.Unmarshal(raw, &in); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && schema.Properties[te.Field] != nil {
			return in, fmt.Errorf("invalid argument %s: must be %s, got %s", te.Field, typeName(schema.Properties[te.Field].Type), valueName(te.Value))
		}
		return in, fmt.Errorf("invalid arguments: %v", err)
	}
	return in, nil
}

func typeName(t string) string {
	switch t {
	case "integer":
		return "an integer"
	case "string":
		return "a string"
	}
	return t
}

// valueName names the JSON value json.UnmarshalTypeError.Value describes.
func valueName(v string) string {
	switch v {
	case "string", "number":
		return "a " + v
	case "object", "array":
		return "an " + v
	case "bool":
		return "true or false"
	}
	return strings.TrimPrefix(v, "number ")
}
