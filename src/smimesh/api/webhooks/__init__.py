"""The Kubernetes webhooks of the control plane: CRD conversion and validating admission.

`conversion.review(body)` answers a ConversionReview v1 with the hub-and-spoke code `smimesh convert`
uses; `admission.review(body)` answers an AdmissionReview v1 with the checks `smimesh validate` runs
(same codes, field paths and hints; warnings become admission warnings); `app.create_webhook_app()`
serves both (`/convert`, `/validate`) for `serve.WebhookServer` (TLS, certificate swapped in place).
"""
