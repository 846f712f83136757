# SPDX-License-Identifier: GPL-3.0-or-later
"""test_web_page: the status page in a real browser. A gateway on the Hoằng
Giang inventory (villages with Vietnamese names) gets seven days of history
through the broker (ntm-sim), then a burst of live messages; three declared
devices never report. Headless Chromium loads GET / from ntm-gateway-web in
Vietnamese and in English, at phone width (390 px) and desktop width: the
village names with their diacritics, the charts (SVG), the offline devices and
the words of each language are in the rendered DOM. The four screenshots are
kept in the build directory (web-artefacts/), their paths printed."""
import os
import re
import subprocess

from harness import _source_root, run
from web_support import (SILENT, VILLAGES, Web, file_uplink, fill_history, live_burst,
                         write_gateway)

CHROMIUM = "/usr/bin/chromium"


def chromium(h, *args):
    argv = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            f"--user-data-dir={os.path.join(h.tmp, 'chromium')}", "--no-first-run",
            "--disable-extensions", *args]
    return subprocess.run(argv, capture_output=True, timeout=120)


def main(h, t):
    root = _source_root()
    art = os.environ.get("NTM_ARTEFACT_DIR") or os.path.join(h.tmp, "artefacts")
    os.makedirs(art, exist_ok=True)
    h.start_broker()
    cfg = write_gateway(h, root, uplinks=file_uplink(h))
    gw = h.start_daemon(cfg)
    p, exp = fill_history(h, root)
    t.eq(p.returncode, 0, "ntm-sim sent seven days of history")
    _, burst = live_burst(h, root)
    gw.wait_counts(exp["valid_total"] + (burst["valid_total"] if burst else 0), timeout=120)
    w = Web(h, cfg)
    t.require(w.wait_accepting(), "ntm-gateway-web accepts connections", w.log())

    for lang in ("vi", "en"):
        d = chromium(h, "--dump-dom", w.url(f"/?lang={lang}"))
        dom = d.stdout.decode("utf-8", "replace")
        t.ok(d.returncode == 0 and "</html>" in dom, f"chromium rendered the page ({lang})",
             d.stderr.decode()[-500:])
        t.ok(f'<html lang="{lang}">' in dom, f"the page says its language is {lang}")
        for vid, name in VILLAGES:
            t.ok(name in dom, f"{lang}: village {name} is on the page with its diacritics")
        charts = len(re.findall(r'<svg class="chart"', dom))
        t.ok(charts >= 5 * 3 * 4 - 12, f"{lang}: charts drawn ({charts} SVG)")
        bars = len(re.findall(r'<rect class="bar"', dom))
        t.ok(bars > 100, f"{lang}: the charts have bars from the history ({bars})")
        t.ok("<title>" in dom and "<details>" in dom, f"{lang}: numbers readable "
             "(tooltips and tables)")
        for dev in SILENT:
            t.ok(f'data-device="{dev}"' in dom, f"{lang}: silent device {dev} listed offline")
        if lang == "vi":
            for word in ("Kết nối", "Các thôn", "chưa từng gửi dữ liệu",
                         "Cảnh báo trong 7 ngày qua", "Tin nhắn bị từ chối",
                         "lần gửi thành công gần nhất", "đã kết nối"):
                t.ok(word in dom, f"vi: the page says “{word}”")
        else:
            for word in ("Connection", "Villages", "never reported", "Alerts of the last 7 days",
                         "Rejected messages", "last successful delivery", "connected"):
                t.ok(word in dom, f"en: the page says “{word}”")
            t.ok("Kết nối" not in dom, "en: no Vietnamese heading left")
        for size, wh in (("phone", "390,844"), ("desktop", "1280,900")):
            png = os.path.join(art, f"web-{lang}-{size}.png")
            if os.path.exists(png):
                os.unlink(png)
            s = chromium(h, f"--screenshot={png}", f"--window-size={wh}", w.url(f"/?lang={lang}"))
            ok = s.returncode == 0 and os.path.exists(png) and os.path.getsize(png) > 10000
            t.ok(ok, f"screenshot {lang} {size} kept: {png}", s.stderr.decode()[-300:])

    # the browser's own language, without ?lang
    st, hd, body = w.get("/", headers={"Accept-Language": "en-US,en;q=0.9,vi;q=0.5"})
    t.ok(st == 200 and b'<html lang="en">' in body, "Accept-Language en gives English")
    st, hd, body = w.get("/", headers={"Accept-Language": "fr-FR,vi;q=0.8,en;q=0.7"})
    t.ok(b'<html lang="vi">' in body, "Accept-Language preferring vi over en gives Vietnamese")
    st, hd, body = w.get("/")
    t.ok(b'<html lang="vi">' in body and b'http-equiv="refresh"' in body,
         "no language stated: Vietnamese (web.language), and the page refreshes itself")
    t.ok(b"http://" not in body.replace(b'http-equiv', b'') and b"https://" not in body,
         "no asset from elsewhere: the page names no URL")
    t.eq(hd.get("Content-Type"), "text/html; charset=utf-8", "content type")
    st, hd, body = w.get("/", headers={"Accept-Language": "en"})
    t.ok(b'id="daemon-down"' not in body, "the daemon runs: no warning that it is down")
    gw.terminate()
    st, hd, body = w.get("/", headers={"Accept-Language": "en"})
    t.ok(st == 200 and b'id="daemon-down"' in body and "Thôn Đồng Quý" in
         body.decode(), "the daemon stopped: the page says so, and still shows what is stored")
    print(f"screenshots in {art}")


run(main)
