package forward

import "testing"

func TestCheckFrames(t *testing.T) {
	for _, c := range []struct {
		frames [][]byte
		max    int
		want   string
	}{
		{[][]byte{[]byte("t"), []byte("body")}, 0, ""},
		{[][]byte{[]byte("t"), []byte("body")}, 4, ""},
		{[][]byte{[]byte("t"), []byte("body!")}, 4, "oversize"},
		{[][]byte{[]byte("t")}, 0, "frames"},
		{[][]byte{[]byte("t"), []byte("b"), []byte("c")}, 0, "frames"},
	} {
		if got, detail := CheckFrames(c.frames, c.max); got != c.want || (got != "") != (detail != "") {
			t.Errorf("CheckFrames(%q, %d) = %q, %q; want %q with a detail when refused", c.frames, c.max, got, detail, c.want)
		}
	}
}
