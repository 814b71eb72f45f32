package web

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ackmsg/ackmsg/archive"
)

// browser starts Debian's headless chromium for the test, within ctx; it is stopped at
// cleanup. Without chromium the test skips, or fails under CI=true (scripts/deps.sh installs it).
func browser(t *testing.T, ctx context.Context) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium is not installed (CI=true: the browser test must run; scripts/deps.sh installs it)")
		}
		t.Skip("chromium is not installed: run scripts/deps.sh (or apt-get install chromium) to run the browser test")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(func() {
		chromedp.Cancel(bctx) // closes the browser and waits for it
		cancelBrowser()
		cancelAlloc()
	})
	if _, err := chromedp.Run(bctx, chromedp.Title()); err != nil { // starts it
		t.Fatalf("starting chromium: %v", err)
	}
	return bctx
}

// artifacts is where the screenshots go: $ACKMSG_ARTIFACTS/web when set, else a directory of
// the test's own (removed after it).
func artifacts(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "screenshots")
	if a := os.Getenv("ACKMSG_ARTIFACTS"); a != "" {
		dir = filepath.Join(a, "web")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100 is a PNG
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// must(f())(t, what) is f's value, or the test's end with f's error.
func must[T any](v T, err error) func(t *testing.T, what string) T {
	return func(t *testing.T, what string) T {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
}

// TestBrowser drives the web view in headless Chromium (started by the test, 60 s at most):
// the search form returns the right rows, the message page shows the signer and that the
// signature verifies, the chart's SVG has the expected bars, a hostile body runs nothing, and
// the live page shows a message committed during the test. Screenshots of each page are
// written to $ACKMSG_ARTIFACTS/web when ACKMSG_ARTIFACTS is set, else to a directory under
// the test's temporary directory (logged; removed after the test).
func TestBrowser(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	f := newFixture(t)
	b := browser(t, ctx)
	dir := artifacts(t)
	t.Logf("screenshots in %s", dir)

	// Search: fill the form as a user would.
	err := chromedp.Do(b,
		chromedp.Navigate(f.srv.URL+"/web/"),
		chromedp.SendKeys(chromedp.CSS(`input[name="topic"]`), "org.fedoraproject.dev.koji.build"),
		chromedp.SendKeys(chromedp.CSS(`input[name="start"]`), base.Format(time.RFC3339)),
		chromedp.Click(chromedp.CSS(`#go`)),
		chromedp.WaitVisible(chromedp.CSS(`#results`)),
	)
	if err != nil {
		t.Fatalf("search: %v", err)
	}
	topics := must(chromedp.Run(b, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#results td.topic")).map(e => e.textContent)`)))(t, "rows")
	total := must(chromedp.Run(b, chromedp.Text(chromedp.CSS(`#total`))))(t, "total")
	screenshot(t, b, dir, "search")
	if len(topics) != 25 || total != "25 messages" {
		t.Fatalf("search: %d rows, %q; want the 25 koji builds", len(topics), total)
	}
	for _, tp := range topics {
		if tp != "org.fedoraproject.dev.koji.build" {
			t.Fatalf("search: a row of %q", tp)
		}
	}

	// The message page, reached from the first row.
	if err := chromedp.Do(b, chromedp.Click(chromedp.CSS(`#results a.msg`)), chromedp.WaitVisible(chromedp.CSS(`#envelope`))); err != nil {
		t.Fatalf("message page: %v", err)
	}
	signer := must(chromedp.Run(b, chromedp.Text(chromedp.CSS(`#signer`))))(t, "signer")
	verify := must(chromedp.Run(b, chromedp.Text(chromedp.CSS(`#verify`))))(t, "verify")
	screenshot(t, b, dir, "message")
	if signer != "pub01" || verify != "signature verifies (signed by pub01)" {
		t.Fatalf("message page: signer %q, %q", signer, verify)
	}

	// The chart: one group per topic, one drawn bar per hour with messages, of the planned counts.
	v := url.Values{"start": {base.Format(time.RFC3339)}, "end": {base.Add(3*time.Hour - time.Second).Format(time.RFC3339)}}
	if err := chromedp.Do(b, chromedp.Navigate(f.srv.URL+"/web/chart?"+v.Encode()), chromedp.WaitVisible(chromedp.CSS(`#chart rect.bar`))); err != nil {
		t.Fatalf("chart: %v", err)
	}
	bars := must(chromedp.Run(b, chromedp.Evaluate[map[string]map[string]string](`(() => { const out = {};
		for (const g of document.querySelectorAll("#chart g.topic")) {
			const m = out[g.dataset.topic] = {};
			for (const r of g.querySelectorAll("rect.bar")) {
				if (r.getBBox().height < 1) throw new Error("a bar not drawn");
				m[r.dataset.hour] = r.dataset.n;
			}
		}
		return out; })()`)))(t, "bars")
	screenshot(t, b, dir, "chart")
	if fmt.Sprint(bars) != fmt.Sprint(wantBars()) {
		t.Fatalf("chart: bars %v, want %v", bars, wantBars())
	}

	// The hostile body: shown as text, nothing of it runs.
	res, err := f.store.Search(ctx, archive.Query{Topics: []string{"org.fedoraproject.dev.evil.page"}, Limit: 1})
	if err != nil || len(res.Records) != 1 {
		t.Fatalf("evil message: %v", err)
	}
	if err := chromedp.Do(b, chromedp.Navigate(f.srv.URL+"/web/message?id="+url.QueryEscape(res.Records[0].MsgID)), chromedp.WaitVisible(chromedp.CSS(`#envelope`))); err != nil {
		t.Fatalf("hostile message page: %v", err)
	}
	envelope := must(chromedp.Run(b, chromedp.Text(chromedp.CSS(`#envelope`))))(t, "envelope")
	ran := must(chromedp.Run(b, chromedp.Evaluate[bool](`window.pwned !== undefined || document.title === "pwned" || document.querySelector("img") !== null`)))(t, "pwned")
	screenshot(t, b, dir, "hostile")
	if ran || !strings.Contains(envelope, `<script>window.pwned=1</script>`) || !strings.Contains(envelope, `onerror=`) {
		t.Fatalf("hostile body: ran %v, envelope shown %q", ran, envelope)
	}

	// Live: a message committed while the page is open appears on it. The page subscribes
	// when its socket opens; until the server has read the subscription a message is not
	// sent, so commit a new one until one shows (retransmit, no sleep).
	err = chromedp.Do(b, chromedp.Navigate(f.srv.URL+"/web/live"),
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := chromedp.Poll[bool](`document.getElementById("status").textContent === "subscribed"`, chromedp.WithPollingTimeout(20*time.Second))(ctx, t)
			return err
		}))
	if err != nil {
		t.Fatalf("live page: %v", err)
	}
	var sent []string
	for shown := false; !shown; {
		if ctx.Err() != nil {
			t.Fatalf("live: none of the %d messages committed during the test appeared", len(sent))
		}
		r := f.record(t, "pub01", "org.fedoraproject.dev.live.test", time.Now(), map[string]any{"live": len(sent)})
		if _, err := f.writer.Insert(ctx, []archive.Record{r}); err != nil {
			t.Fatal(err)
		}
		sent = append(sent, r.MsgID)
		shown, _ = chromedp.Run(b, chromedp.Poll[bool](fmt.Sprintf(`Array.from(document.querySelectorAll("#feed tr.live td")).some(td => td.textContent === %q)`, r.MsgID),
			chromedp.WithPollingTimeout(500*time.Millisecond), chromedp.WithPollingInterval(20*time.Millisecond)))
	}
	screenshot(t, b, dir, "live")
	t.Logf("live: shown after %d commit(s)", len(sent))
}
