package session

import "github.com/meshjoin/meshjoin/mesh"

// CallName is the name to call the service by: the shortest it answers to.
func (js JoinedService) CallName() string {
	if len(js.Names) > 0 {
		return js.Names[len(js.Names)-1]
	}
	return js.Key
}

// TryCommand is a ready command to call the joined service on its first port, for the
// join output and the TUI ("" without ports).
func (js JoinedService) TryCommand() string {
	if len(js.Ports) == 0 {
		return ""
	}
	return mesh.TryCommand(js.CallName(), js.Ports[0].Number, mesh.Protocol(js.Ports[0].Protocol))
}
