package daemon

import "os"

var lstat = os.Lstat
