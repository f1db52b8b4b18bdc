// The Draw & match pad: a plain 2D canvas. Gradio's Sketchpad draws through WebGL and exports three PNGs
// (background, layers, composite) after each stroke, and again for each event that reads it: in a browser
// without a GPU that is seconds per stroke. This pad draws with the 2D context and, on pointer-up, writes one
// PNG (a data URL, at app.SENT_SIDE pixels a side) into its hidden textbox, whose change event runs the match. Pointer events cover mouse,
// pen and touch alike; `touch-action: none` (page.css) keeps a finger's stroke from scrolling the page.
// window.siamesePads[<pad's elem_id>].show(url) puts an image (an example) on a pad, under any strokes drawn after.
() => {
  window.siamesePads = window.siamesePads || {};
  const setUp = (pad) => {
    const canvas = pad.querySelector("canvas");
    if (!canvas || canvas.dataset.ready) return;
    canvas.dataset.ready = "1";
    const ink = canvas.getContext("2d");
    const value = document.querySelector(`#${pad.dataset.value} textarea`);
    const penWidth = Number(pad.dataset.pen); // app.PEN_WIDTH, in pixels of the canvas
    const sent = document.createElement("canvas"); // the drawing as sent: app.SENT_SIDE pixels a side
    sent.width = sent.height = Number(pad.dataset.sent) || canvas.width;
    const shrink = sent.getContext("2d");
    shrink.imageSmoothingQuality = "high";
    const strokes = [];
    let current = null;
    let shown = null; // an example's image, drawn under the strokes
    const paint = () => {
      ink.fillStyle = "#ffffff";
      ink.fillRect(0, 0, canvas.width, canvas.height);
      if (shown) ink.drawImage(shown, 0, 0, canvas.width, canvas.height);
      ink.strokeStyle = "#000000";
      ink.lineWidth = penWidth;
      ink.lineCap = ink.lineJoin = "round";
      for (const points of strokes) {
        ink.beginPath();
        ink.moveTo(points[0][0], points[0][1]);
        for (const [x, y] of points.length > 1 ? points.slice(1) : [points[0]]) ink.lineTo(x, y);
        ink.stroke();
      }
    };
    const send = () => {
      const drawn = strokes.length > 0 || shown !== null;
      if (drawn) shrink.drawImage(canvas, 0, 0, sent.width, sent.height);
      value.value = drawn ? sent.toDataURL("image/png") : "";
      document.body.classList.toggle(`${pad.dataset.pad}-drawn`, drawn); // page.css shows the pad's answer only then
      value.dispatchEvent(new Event("input", { bubbles: true }));
      pad.querySelector(".pad-undo").disabled = !drawn;
    };
    const at = (event) => {
      const box = canvas.getBoundingClientRect(); // the canvas may be shown smaller than 420 pixels (a phone)
      return [(event.clientX - box.left) * canvas.width / box.width, (event.clientY - box.top) * canvas.height / box.height];
    };
    canvas.addEventListener("pointerdown", (event) => {
      event.preventDefault();
      canvas.setPointerCapture(event.pointerId);
      current = [at(event)];
      strokes.push(current);
      paint();
    });
    canvas.addEventListener("pointermove", (event) => {
      if (!current) return;
      current.push(at(event));
      paint();
    });
    const finish = () => {
      if (!current) return;
      current = null;
      send();
    };
    canvas.addEventListener("pointerup", finish);
    canvas.addEventListener("pointercancel", finish);
    // Undo takes back the last stroke, then the example itself.
    pad.querySelector(".pad-undo").addEventListener("click", () => { if (strokes.length) strokes.pop(); else shown = null; paint(); send(); });
    pad.querySelector(".pad-clear").addEventListener("click", () => { strokes.length = 0; shown = null; paint(); send(); });
    window.siamesePads[pad.dataset.pad] = {
      show: (url) => {
        const image = new Image();
        image.onload = () => { strokes.length = 0; shown = image; paint(); send(); };
        image.src = url;
      },
    };
    paint();
  };
  // The pad mounts with its tab (and again if Gradio re-renders it): set up every one not yet set up.
  const scan = () => document.querySelectorAll(".live-pad").forEach(setUp);
  new MutationObserver(scan).observe(document.body, { subtree: true, childList: true });
  scan();
}
