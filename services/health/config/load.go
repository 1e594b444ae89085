package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// Load reads every *.json and *.hcl file directly inside each of dirs, in
// lexical order within a dir and dirs in the order given (subdirectories
// and other files are skipped, as Consul does). A path that is a file is
// read as one. Every problem in every file is reported, each as a
// *FileError, joined; on error nothing is returned.
//
// A service ID or check ID defined twice is not an error: the later
// definition wins, as in Consul, with a warning.
func Load(dirs []string) (*Definitions, error) {
	var files []string
	var errs []error
	for _, dir := range dirs {
		fi, err := os.Stat(dir)
		if err != nil {
			errs = append(errs, fmt.Errorf("config dir: %w", err))
			continue
		}
		if !fi.IsDir() {
			files = append(files, dir)
			continue
		}
		entries, err := os.ReadDir(dir) // sorted by name
		if err != nil {
			errs = append(errs, fmt.Errorf("config dir: %w", err))
			continue
		}
		for _, e := range entries {
			name := e.Name()
			if !strings.HasSuffix(name, ".json") && !strings.HasSuffix(name, ".hcl") {
				continue
			}
			path := filepath.Join(dir, name)
			if e.IsDir() {
				continue
			}
			if e.Type()&os.ModeSymlink != 0 {
				if st, err := os.Stat(path); err != nil || st.IsDir() {
					continue
				}
			}
			files = append(files, path)
		}
	}
	all := &Definitions{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			errs = append(errs, &FileError{File: f, Err: err})
			continue
		}
		defs, err := ParseFile(f, data)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		all.Services = append(all.Services, defs.Services...)
		all.Checks = append(all.Checks, defs.Checks...)
		all.Ignored = append(all.Ignored, defs.Ignored...)
		all.Warnings = append(all.Warnings, defs.Warnings...)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	all.dedupe()
	return all, nil
}

// dedupe keeps the last definition of each service ID and check ID.
func (d *Definitions) dedupe() {
	seen := map[string]int{}
	var svcs []Service
	for _, s := range d.Services {
		if i, ok := seen[s.ID]; ok {
			d.Warnings = append(d.Warnings, fmt.Sprintf("%s: service %q replaces the one defined at %s", s.Source, s.ID, svcs[i].Source))
			svcs[i] = s
			continue
		}
		seen[s.ID] = len(svcs)
		svcs = append(svcs, s)
	}
	d.Services = svcs

	owner := map[string]Source{}
	for _, s := range d.Services {
		for _, c := range s.Checks {
			owner[c.ID] = c.Source
		}
	}
	seenChecks := map[string]int{}
	var checks []Check
	for _, c := range d.Checks {
		if src, ok := owner[c.ID]; ok {
			d.Warnings = append(d.Warnings, fmt.Sprintf("%s: check %q is also defined at %s", c.Source, c.ID, src))
		}
		if i, ok := seenChecks[c.ID]; ok {
			d.Warnings = append(d.Warnings, fmt.Sprintf("%s: check %q replaces the one defined at %s", c.Source, c.ID, checks[i].Source))
			checks[i] = c
			continue
		}
		seenChecks[c.ID] = len(checks)
		checks = append(checks, c)
	}
	d.Checks = checks
}

// normalizeAll normalizes what one file defines, turning each problem into
// a *FileError that names the key as written in the file and its line.
func normalizeAll(file string, defs *Definitions, loc *locator) []error {
	var errs []error
	for i := range defs.Services {
		s := &defs.Services[i]
		base := s.Source.Path
		// Normalize folds "check" into "checks"; remember where each came from.
		origin := make([]string, 0, len(s.Check)+len(s.Checks))
		for _, c := range append(append([]Check(nil), s.Check...), s.Checks...) {
			origin = append(origin, c.Source.Path)
		}
		err := s.Normalize()
		for _, e := range Problems(err) {
			if e == nil {
				continue
			}
			field := base
			var fe *FieldError
			if errors.As(e, &fe) {
				field = joinPath(base, mapCheckPath(fe.Field, origin, base))
				e = fe.Err
			}
			errs = append(errs, &FileError{File: file, Line: loc.line(field), Field: field, Err: e})
		}
	}
	for i := range defs.Checks {
		c := &defs.Checks[i]
		for _, e := range Problems(c.NormalizeNodeCheck()) {
			if e == nil {
				continue
			}
			field := c.Source.Path
			var fe *FieldError
			if errors.As(e, &fe) {
				field = joinPath(field, fe.Field)
				e = fe.Err
			}
			errs = append(errs, &FileError{File: file, Line: loc.line(field), Field: field, Err: e})
		}
	}
	return errs
}

var checkIndexRE = regexp.MustCompile(`^checks\[(\d+)\]`)

// mapCheckPath rewrites "checks[i]..." (an index into the folded list) to
// the path the check had in the file, relative to base.
func mapCheckPath(field string, origin []string, base string) string {
	m := checkIndexRE.FindStringSubmatch(field)
	if m == nil {
		return field
	}
	i, _ := strconv.Atoi(m[1])
	if i >= len(origin) || origin[i] == "" {
		return field
	}
	return strings.TrimPrefix(origin[i], base+".") + field[len(m[0]):]
}
