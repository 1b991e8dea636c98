// Package ide generates IDE launch configuration that runs a service with meshjoin's names
// working: VS Code tasks and launch configurations (.vscode/tasks.json, .vscode/launch.json) and
// JetBrains shared run configurations (.run/*.run.xml). The generated entries call
// `meshjoin up`, `meshjoin env` and `meshjoin down`, so no IDE plugin is needed.
//
// Generators never re-serialise a user's file: JSONC files are parsed with hujson and only the
// byte ranges of meshjoin's own entries change; everything else stays byte-for-byte. A generator
// returns a Plan (old and new bytes per file); the caller prints its diff or writes it.
package ide
