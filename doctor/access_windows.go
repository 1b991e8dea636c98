package doctor

import "os"

// checkWritable opens path for writing without truncating it (Windows has no access(2)).
func checkWritable(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	return f.Close()
}
