package queryv1

// ReadMetaName is readMetaName, for the external test package.
const ReadMetaName = readMetaName
