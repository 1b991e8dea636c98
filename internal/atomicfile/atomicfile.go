// Package atomicfile replaces a file so that a reader sees the old content or the new one,
// never a part: renameio on Unix, a synced temporary file renamed over the target on Windows
// (renameio does not build there; os.Rename replaces an existing file on Windows).
package atomicfile
