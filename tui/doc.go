// Package tui is meshjoin's interactive terminal UI (Bubble Tea): one root model with a header,
// the service picker, the identity chooser, join progress and the live dashboard. It drives a
// session through Backend; all I/O happens in commands whose results come back as messages,
// and the listeners (catalogue changes, join progress, the one-second status tick) are re-armed
// after each message.
package tui
