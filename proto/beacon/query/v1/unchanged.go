package queryv1

import (
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// readMetaName is ReadMeta's full name, the type of the field kept
// (a constant: package variables are set before the generated code
// registers the descriptors; TestReadMetaName checks it).
const readMetaName protoreflect.FullName = "beacon.query.v1.ReadMeta"

// LeaveOutUnchanged implements ReadOptions.known_index on the serving side:
// when meta's index is the one the client already holds, it clears every
// field of resp but its ReadMeta, marks meta unchanged and reports true.
func LeaveOutUnchanged(opts *ReadOptions, resp proto.Message, meta *ReadMeta) bool {
	known := opts.GetKnownIndex()
	if known == 0 || meta == nil || meta.GetIndex() != known {
		return false
	}
	m := resp.ProtoReflect()
	m.Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		if fd.Message() == nil || fd.Message().FullName() != readMetaName || fd.IsList() || fd.IsMap() {
			m.Clear(fd)
		}
		return true
	})
	meta.Unchanged = true
	return true
}
