// Package version says which netflow this is: the release, in Version, and the commit the
// binary was built from, which go build and go install stamp into a binary built inside a
// git checkout. The launchers, which are shell scripts, read the same release from the
// VERSION file at the repository root; a test keeps the two equal.
package version

import (
	"runtime"
	"runtime/debug"
)

// Version is the release; VERSION at the repository root says the same.
const Version = "0.8.0"

// String is what -version prints: "NAME 0.8.0 (commit abc1234, go1.26.8)". The commit is
// "unknown" when the binary carries none (go run, go build of files, -buildvcs=false), and
// ends in "-dirty" when the checkout had uncommitted changes.
func String(name string) string {
	info, _ := debug.ReadBuildInfo()
	return format(name, info)
}

func format(name string, info *debug.BuildInfo) string {
	commit, goVersion := "unknown", runtime.Version()
	if info != nil {
		if info.GoVersion != "" {
			goVersion = info.GoVersion
		}
		var rev string
		dirty := false
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if rev != "" {
			commit = rev[:min(len(rev), 7)]
			if dirty {
				commit += "-dirty"
			}
		}
	}
	return name + " " + Version + " (commit " + commit + ", " + goVersion + ")"
}
