// /api/docs: Swagger UI (static/vendor/swagger-ui) rendering the portal's /openapi.json.
// A file of its own, not an inline script, so the page keeps the portal's CSP.
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  window.SwaggerUIBundle({
    url: root.getAttribute("data-openapi-url"),
    domNode: root,
    deepLinking: true,
    tryItOutEnabled: false,
    persistAuthorization: false,
    validatorUrl: null,
  });
})();
