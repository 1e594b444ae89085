//go:build race

package hostile

// raceEnabled builds the binaries under test with -race when the tests run
// with it, so a data race in a replica fails the run too.
const raceEnabled = true
