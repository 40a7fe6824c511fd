package projectpolicy

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"go.yaml.in/yaml/v3"
)

// documentHeader is the part of a document that selects its kind.
type documentHeader struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
}

// MaxFileSize is the largest policy file that Load reads, in bytes, about a thousand
// times config/harbor/project.yaml. Decoding a 74 MB file took over 1 GB of memory, so
// the limit keeps a wrong or hostile file from exhausting it.
const MaxFileSize = 4 << 20

// Load reads a policy file of one or more YAML documents separated by "---". Fields that
// the kind does not define are errors that name the field and its line. Load does not
// validate values; call Validate for that. Every error wraps ErrInvalid, except a read
// error of r.
func Load(r io.Reader) (*Document, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading policy file: %w", err)
	}
	if len(data) > MaxFileSize {
		return nil, invalidf("the policy file is larger than %d bytes: split it into "+
			"several files", MaxFileSize)
	}
	headers, err := readHeaders(data)
	if err != nil {
		return nil, err
	}
	// The second pass decodes each document strictly into the type its header selects,
	// so that line numbers in errors count from the start of the file.
	doc := &Document{}
	strict := yaml.NewDecoder(bytes.NewReader(data))
	strict.KnownFields(true)
	for i, h := range headers {
		var target any
		switch {
		case h.APIVersion != APIVersion:
			return nil, invalidf("document %d: apiVersion is %q: set it to %s",
				i+1, h.APIVersion, APIVersion)
		case h.Kind == KindProject:
			p := &Project{}
			doc.Projects = append(doc.Projects, p)
			target = p
		case h.Kind == KindInstance:
			in := &Instance{}
			doc.Instances = append(doc.Instances, in)
			target = in
		default:
			return nil, invalidf("document %d: kind is %q: use %s or %s",
				i+1, h.Kind, KindProject, KindInstance)
		}
		if err := strict.Decode(target); err != nil {
			return nil, invalidf("document %d (%s): %v", i+1, h.Kind, err)
		}
	}
	if len(headers) == 0 {
		return nil, invalidf("the policy file contains no document")
	}
	return doc, nil
}

// readHeaders returns the apiVersion and kind of every non-empty document.
func readHeaders(data []byte) ([]documentHeader, error) {
	var headers []documentHeader
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for i := 1; ; i++ {
		var h documentHeader
		err := dec.Decode(&h)
		if errors.Is(err, io.EOF) {
			return headers, nil
		}
		if err != nil {
			return nil, invalidf("document %d: %v", i, err)
		}
		headers = append(headers, h)
	}
}
