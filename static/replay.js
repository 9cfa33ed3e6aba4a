// The replay player: hls.js where the browser has Media Source Extensions, the browser's own
// HLS where it has no MSE but plays HLS (Safari on iPhone), else the MP4 (byte ranges let it
// seek). Chapter buttons seek the video. No dependencies besides hls.js, loaded on demand.

const video = document.getElementById("replay-video");

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const s = document.createElement("script");
    s.src = src;
    s.onload = resolve;
    s.onerror = reject;
    document.head.append(s);
  });
}

async function start() {
  const { hls: playlist, mp4, hlsJs } = video.dataset;
  if (hlsJs) {
    try {
      await loadScript(hlsJs);
    } catch (_) { /* not installed here: the next way */ }
  }
  if (window.Hls && window.Hls.isSupported()) {
    // No worker: the page's policy allows blob: media, not blob: workers.
    const hls = new window.Hls({ enableWorker: false, preferManagedMediaSource: false });
    hls.on(window.Hls.Events.ERROR, (_, data) => {
      if (data.fatal) {
        hls.destroy();
        play(mp4, "mp4");
      }
    });
    hls.loadSource(playlist);
    hls.attachMedia(video);
    video.dataset.player = "hls.js";
  } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
    play(playlist, "native");
  } else {
    play(mp4, "mp4");
  }
}

function play(src, how) {
  video.src = src;
  video.dataset.player = how;
}

for (const button of document.querySelectorAll("button[data-seek]")) {
  button.addEventListener("click", () => {
    video.currentTime = Number(button.dataset.seek) / 1000;
    video.play().catch(() => { /* autoplay refused: the position is set all the same */ });
    video.focus();
  });
}

if (video) start();
