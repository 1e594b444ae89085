package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/hashicorp/hcl"
	hclparser "github.com/hashicorp/hcl/hcl/parser"
)

// FileError is one problem in one definition file.
type FileError struct {
	File string
	// Line is 0 when neither the parser nor the definition's position
	// tells where the problem is.
	Line int
	// Field is the path of the offending key, e.g. "service[0].checks[1].interval".
	Field string
	Err   error
}

func (e *FileError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *FileError) Unwrap() error { return e.Err }

// format says how a file is written.
type format int

const (
	formatJSON format = iota + 1
	formatHCL
)

// ParseFile reads the service and check definitions of one file. name
// (its path) picks the format by extension (.json or .hcl) and appears in
// errors, each a *FileError.
func ParseFile(name string, data []byte) (*Definitions, error) {
	var f format
	switch {
	case strings.HasSuffix(name, ".json"):
		f = formatJSON
	case strings.HasSuffix(name, ".hcl"):
		f = formatHCL
	default:
		return nil, &FileError{File: name, Err: errors.New("unknown format: want a .json or .hcl file")}
	}
	raw, loc, err := parseRaw(f, data)
	if err != nil {
		line := 0
		var le *lineError
		if errors.As(err, &le) {
			line, err = le.line, le.err
		}
		return nil, &FileError{File: name, Line: line, Err: err}
	}
	return decodeDefinitions(name, raw, loc)
}

// lineError is a syntax error at a line.
type lineError struct {
	line int
	err  error
}

func (e *lineError) Error() string { return fmt.Sprintf("line %d: %v", e.line, e.err) }

// parseRaw parses a file into a generic map and an index of where each
// key is. JSON goes through encoding/json (HCL's JSON reader accepts broken
// files and loses positions); HCL through HCL1, whose blocks come out as
// lists of maps.
func parseRaw(f format, data []byte) (map[string]any, *locator, error) {
	if f == formatJSON {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, nil, jsonSyntaxError(data, err)
		}
		if dec.More() {
			off := int(dec.InputOffset())
			return nil, nil, &lineError{line: lineAt(data, off), err: errors.New("unexpected data after the top-level object")}
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, nil, &lineError{line: 1, err: errors.New("the top level must be an object")}
		}
		loc, err := locateJSON(data)
		if err != nil {
			loc = &locator{}
		}
		return m, loc, nil
	}
	file, err := hcl.ParseBytes(data)
	if err != nil {
		var pe *hclparser.PosError
		if errors.As(err, &pe) {
			return nil, nil, &lineError{line: pe.Pos.Line, err: pe.Err}
		}
		return nil, nil, err
	}
	var m map[string]any
	if err := hcl.DecodeObject(&m, file); err != nil {
		return nil, nil, err
	}
	return m, locateHCL(file), nil
}

func jsonSyntaxError(data []byte, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return &lineError{line: lineAt(data, int(se.Offset)), err: errors.New(se.Error())}
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return &lineError{line: lineAt(data, len(data)), err: errors.New("unexpected end of file")}
	}
	return err
}

// lineAt returns the 1-based line of byte offset off.
func lineAt(data []byte, off int) int {
	off = min(max(off, 0), len(data))
	return bytes.Count(data[:off], []byte{'\n'}) + 1
}

// Top-level keys that hold definitions; every other key is agent config.
var topKeys = map[string]string{
	"service":  "service",
	"services": "services",
	"check":    "check",
	"checks":   "checks",
}

func decodeDefinitions(file string, raw map[string]any, loc *locator) (*Definitions, error) {
	defs := &Definitions{}
	var errs []error
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	// service before services, check before checks: file order is not
	// known across keys, and this is the order Consul appends them in.
	for _, k := range keys {
		top, ok := topKeys[canon(k)]
		if !ok {
			defs.Ignored = append(defs.Ignored, file+": "+k)
			continue
		}
		switch top {
		case "service", "services":
			var out struct {
				S []Service `mapstructure:"service"`
			}
			if err := decodeInto(map[string]any{"service": raw[k]}, &out); err != nil {
				errs = append(errs, decodeErrors(file, top, err, loc)...)
				continue
			}
			for i := range out.S {
				path := fmt.Sprintf("%s[%d]", top, i)
				out.S[i].Source = Source{File: file, Line: loc.line(path), Path: path}
				setCheckSources(out.S[i].Check, file, path+".check", loc)
				setCheckSources(out.S[i].Checks, file, path+".checks", loc)
				if sc := out.S[i].Connect; sc != nil && sc.SidecarService != nil {
					sp := path + ".connect.sidecar_service"
					sc.SidecarService.Source = Source{File: file, Line: loc.line(sp), Path: sp}
					setCheckSources(sc.SidecarService.Check, file, sp+".check", loc)
					setCheckSources(sc.SidecarService.Checks, file, sp+".checks", loc)
				}
				defs.Services = append(defs.Services, out.S[i])
			}
		case "check", "checks":
			var out struct {
				C []Check `mapstructure:"check"`
			}
			if err := decodeInto(map[string]any{"check": raw[k]}, &out); err != nil {
				errs = append(errs, decodeErrors(file, top, err, loc)...)
				continue
			}
			setCheckSources(out.C, file, top, loc)
			defs.Checks = append(defs.Checks, out.C...)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if errs := normalizeAll(file, defs, loc); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return defs, nil
}

func setCheckSources(cs []Check, file, prefix string, loc *locator) {
	for i := range cs {
		path := fmt.Sprintf("%s[%d]", prefix, i)
		cs[i].Source = Source{File: file, Line: loc.line(path), Path: path}
	}
}

// decodeErrors turns mapstructure's joined errors into FileErrors with the
// field path as written in the file (top is the key actually used).
func decodeErrors(file, top string, err error, loc *locator) []error {
	var out []error
	var walk func(error)
	walk = func(e error) {
		if de, ok := e.(*mapstructure.DecodeError); ok {
			field := top + strings.TrimPrefix(strings.TrimPrefix(de.Name(), "service"), "check")
			msg := de.Unwrap().Error()
			if rest, ok := strings.CutPrefix(msg, "has invalid keys: "); ok {
				for _, k := range strings.Split(rest, ", ") {
					f := field + "." + k
					out = append(out, &FileError{File: file, Line: loc.line(f), Field: f, Err: errors.New("unknown key")})
				}
				return
			}
			out = append(out, &FileError{File: file, Line: loc.line(field), Field: field, Err: cleanDecodeError(de.Unwrap())})
			return
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, c := range j.Unwrap() {
				walk(c)
			}
			return
		}
		if u := errors.Unwrap(e); u != nil {
			walk(u)
			return
		}
		out = append(out, &FileError{File: file, Field: top, Err: e})
	}
	walk(err)
	return out
}

// cleanDecodeError rewrites mapstructure's messages about Go types into
// words a config author knows.
func cleanDecodeError(err error) error {
	var pe *mapstructure.ParseError
	if errors.As(err, &pe) {
		return fmt.Errorf("%q is not %s", fmt.Sprint(pe.Value), typeWord(pe.Expected.Type()))
	}
	var ue *mapstructure.UnconvertibleTypeError
	if errors.As(err, &ue) {
		return fmt.Errorf("want %s, got %s", typeWord(ue.Expected.Type()), valueWord(ue.Value))
	}
	return err
}

func typeWord(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if t == durationType {
			return "a duration"
		}
		return "an integer"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Slice:
		return "a list"
	case reflect.Map, reflect.Struct, reflect.Pointer:
		return "an object"
	}
	return t.String()
}

func valueWord(v any) string {
	switch reflect.ValueOf(v).Kind() {
	case reflect.Slice:
		return "a list"
	case reflect.Map:
		return "an object"
	case reflect.String:
		return fmt.Sprintf("%q", v)
	case reflect.Invalid:
		return "nothing"
	}
	return fmt.Sprint(v)
}

// decodeInto weak-decodes raw into out with Consul's key spellings and
// HCL's block lists flattened.
func decodeInto(raw any, out any) error {
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		Result:           out,
		WeaklyTypedInput: true,
		ErrorUnused:      true,
		MatchName: func(key, field string) bool {
			k := canon(key)
			if a, ok := keyAliases[k]; ok {
				k = a
			}
			return k == canon(field)
		},
		DecodeHook: mapstructure.ComposeDecodeHookFunc(
			unwrapBlocks,
			durationHook,
			plainConfigHook,
		),
	})
	if err != nil {
		return err
	}
	return dec.Decode(raw)
}

// keyAliases are other names Consul accepts for a key (canonical forms):
// the agent API's CheckID, and the args of old releases.
var keyAliases = map[string]string{
	"checkid":    "id",
	"scriptargs": "args",
}

// canon folds Consul's key spellings (CamelCase, snake_case, lower-case)
// together: "DeregisterCriticalServiceAfter" and
// "deregister_critical_service_after" are the same key.
func canon(k string) string {
	return canonReplacer.Replace(strings.ToLower(k))
}

// canonReplacer is built once: building a Replacer costs far more than
// using it, and canon runs for every key of every definition file.
var canonReplacer = strings.NewReplacer("_", "", "-", "")

var (
	durationType = reflect.TypeFor[time.Duration]()
	anyMapType   = reflect.TypeFor[map[string]any]()
)

// unwrapBlocks undoes HCL1's habit of turning every block into a list of
// maps: a one-element list becomes its element where a struct or map is
// wanted, and several maps for one map are merged.
func unwrapBlocks(from, to reflect.Type, data any) (any, error) {
	for to.Kind() == reflect.Pointer {
		to = to.Elem()
	}
	if to.Kind() != reflect.Struct && to.Kind() != reflect.Map {
		return data, nil
	}
	if to == durationType {
		return data, nil
	}
	v := reflect.ValueOf(data)
	if v.Kind() != reflect.Slice {
		return data, nil
	}
	switch v.Len() {
	case 0:
		if to.Kind() == reflect.Map {
			return map[string]any{}, nil
		}
		return nil, nil
	case 1:
		return v.Index(0).Interface(), nil
	}
	if to.Kind() == reflect.Struct {
		return nil, fmt.Errorf("expected one block, got %d", v.Len())
	}
	merged := map[string]any{}
	for i := range v.Len() {
		m, ok := v.Index(i).Interface().(map[string]any)
		if !ok {
			return data, nil
		}
		for k, x := range m {
			merged[k] = x
		}
	}
	return merged, nil
}

// durationHook reads durations the way Consul's files write them: strings
// such as "10s" or "1m30s". Bare numbers are refused (a number has no unit)
// except 0.
func durationHook(from, to reflect.Type, data any) (any, error) {
	if to != durationType {
		return data, nil
	}
	switch v := data.(type) {
	case string:
		if v == "" || v == "0" {
			return time.Duration(0), nil
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			return nil, fmt.Errorf("invalid duration %q", v)
		}
		return d, nil
	case time.Duration:
		return v, nil
	case json.Number:
		if v.String() == "0" {
			return time.Duration(0), nil
		}
		return nil, fmt.Errorf("duration %s has no unit: write it as a string such as \"%ss\"", v, v)
	case int, int64, float64:
		if reflect.ValueOf(v).IsZero() {
			return time.Duration(0), nil
		}
		return nil, fmt.Errorf("duration %v has no unit: write it as a string such as \"%vs\"", v, v)
	}
	return data, nil
}

// plainConfigHook turns free-form config maps (proxy.config, locality...)
// into plain JSON-like values: HCL blocks inside become maps, JSON numbers
// become float64 or int64.
func plainConfigHook(from, to reflect.Type, data any) (any, error) {
	if to != anyMapType {
		return data, nil
	}
	return plain(data)
}

func plain(v any) (any, error) {
	each := func(n int, at func(int) any) ([]any, error) {
		out := make([]any, n)
		for i := range out {
			var err error
			if out[i], err = plain(at(i)); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			p, err := plain(e)
			if err != nil {
				return nil, err
			}
			out[k] = p
		}
		return out, nil
	case []map[string]any:
		if len(x) == 1 {
			return plain(x[0])
		}
		return each(len(x), func(i int) any { return x[i] })
	case []any:
		return each(len(x), func(i int) any { return x[i] })
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i, nil
		}
		f, err := x.Float64()
		if err != nil {
			return nil, fmt.Errorf("number %s is out of range", x)
		}
		return f, nil
	case int:
		return int64(x), nil
	}
	return v, nil
}
