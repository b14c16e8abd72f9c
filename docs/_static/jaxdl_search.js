/* Search snippets: Sphinx takes a result's text from the page's [role="main"], which in the
   book theme also holds the header's buttons (the theme menu's "System Settings Light Dark",
   the download and full-screen buttons), and the math as TeX source, since MathJax typesets
   it only in the browser. Drop both before the snippet is cut. */
(function () {
  const NOISE = [".bd-header-article", ".header-article-items", ".theme-switch-button",
    ".article-header-buttons", ".dropdown", ".bd-sidebar-secondary", ".prev-next-area",
    ".jaxdl-notebook-link", ".headerlink", ".onthispage", "nav"].join(", ");
  function patch() {
    if (typeof Search === "undefined" || Search.jaxdlPatched) return;
    const original = Search.htmlToText;
    Search.htmlToText = (htmlString, anchor) => {
      const doc = new DOMParser().parseFromString(htmlString, "text/html");
      doc.querySelectorAll(NOISE).forEach((el) => el.remove());
      // Math is typeset in the browser: in the fetched page it is still TeX source.
      doc.querySelectorAll(".math").forEach((el) => el.replaceWith("\u2026"));
      return original(doc.documentElement.outerHTML, anchor);
    };
    Search.jaxdlPatched = true;
  }
  patch();
  document.addEventListener("DOMContentLoaded", patch);
})();
