// Package hosts manages meshjoin's marked block in a hosts file (normally /etc/hosts) and hands
// out the stable loopback addresses that the local Envoy listens on, one per mesh service.
//
// The block looks like this:
//
//	# BEGIN meshjoin <owner> (managed by meshjoin; do not edit)
//	127.77.12.34     ratings.bookinfo.svc.cluster.local ratings.bookinfo.svc ratings.bookinfo
//	# END meshjoin
//
// Everything outside the block belongs to the user and is never changed, not even by one byte:
// the package splices its block into the original bytes instead of re-rendering the file (txeh,
// which checks our own lines and flushes the DNS cache, re-renders every line it parses). Adding
// a block and removing it again gives back the original file exactly, CRLF line endings and a
// missing final newline included.
//
// Edits are declarative ([File.Apply] takes the whole desired set; an empty set removes the
// block), serialised between meshjoin processes by a file lock, and written atomically, with an
// in-place rewrite when the hosts file is a bind mount that rename cannot replace (Docker
// containers).
package hosts
