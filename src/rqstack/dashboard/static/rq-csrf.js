/* rqstack: every POST rq-dashboard's scripts send carries the session's CSRF token. */
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="csrf-token"]');
  if (meta && window.jQuery) {
    window.jQuery.ajaxSetup({ headers: { "X-CSRF-Token": meta.getAttribute("content") } });
  }
})();
