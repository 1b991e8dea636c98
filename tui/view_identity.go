package tui

// The identity chooser: which service account to act as.

func (m *Model) identityView(st styles) []string {
	out := []string{st.title.Render("Identity") + "  which service account should this machine act as?"}
	switch {
	case !m.accountsDone:
		out = append(out, "  "+m.spinFrame()+" checking which service accounts you may create tokens for …")
	case m.accountsErr != "":
		out = append(out, st.bad.Render("  cannot list service accounts: "+m.accountsErr))
	case len(m.accounts) == 0:
		out = append(out, "  no service account found that you may create tokens for: type one below")
	}
	room := m.bodyHeight() - 4
	start := max(0, m.idCursor-room+1)
	for i := start; i < len(m.accounts) && i < start+room; i++ {
		mark := "  "
		line := m.accounts[i]
		if i == m.idCursor && m.idInput == "" {
			mark = "› "
			line = st.cursor.Render(line)
		}
		out = append(out, "  "+mark+line)
	}
	out = append(out, "", "  or type namespace/serviceaccount: "+m.idInput+"▏")
	return out
}
