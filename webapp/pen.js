// Gradio 6's Sketchpad opens with no tool selected ("select the draw tool to start"), and "Clear canvas"
// deselects the tool again: a drag draws nothing until the Brush button is clicked. This function (passed
// to demo.launch(js=...), run once on page load) selects the brush in every sketchpad with the
// "pen-canvas" class whenever that sketchpad is visible and has no tool selected. A tool the user chose
// (eraser, pan) is left alone: the selected tool's button carries the "highlight" class.
() => {
  const selectPen = () => {
    for (const pad of document.querySelectorAll(".pen-canvas")) {
      if (!pad.getClientRects().length || pad.querySelector("button.highlight")) continue; // hidden, or a tool is on
      // The button is labelled "Brush" in English; in other languages fall back to the first tool button.
      const brush = pad.querySelector('.toolbar-wrap button[aria-label="Brush"]') ?? pad.querySelector(".toolbar-wrap button");
      brush?.click();
    }
  };
  // Look again after DOM changes (at most once per frame): a sketchpad in a hidden tab mounts or is
  // shown when its tab opens, and Clear drops the brush button's "highlight" class.
  let queued = false;
  const queue = () => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => { queued = false; selectPen(); });
  };
  new MutationObserver(queue).observe(document.body, {
    subtree: true, childList: true, attributes: true, attributeFilter: ["class", "style", "hidden"],
  });
  queue();
}
