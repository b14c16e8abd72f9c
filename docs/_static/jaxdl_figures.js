/* Figures open at full size: on a phone a figure is drawn narrower than the screen's column
   and its smallest text is hard to read, so a tap (or a click) on any figure of an article
   opens the image alone, where the browser shows it at its drawn size and zooms it. */
(function () {
  function linkFigures() {
    document.querySelectorAll("article figure img, article .cell_output img").forEach((img) => {
      if (img.closest("a")) return;
      const link = document.createElement("a");
      link.href = img.getAttribute("src");
      link.className = "jaxdl-figure-link";
      link.title = "Open the figure at full size";
      img.replaceWith(link);
      link.appendChild(img);
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", linkFigures);
  } else {
    linkFigures();
  }
})();
