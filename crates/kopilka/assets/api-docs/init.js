// The reference page of kopilka's admin API: Swagger UI over /v1/openapi.json, with no call
// to any other host (validatorUrl off).
window.ui = SwaggerUIBundle({
  url: "/v1/openapi.json",
  dom_id: "#api-docs",
  deepLinking: true,
  validatorUrl: null,
  persistAuthorization: false,
  presets: [SwaggerUIBundle.presets.apis],
});
