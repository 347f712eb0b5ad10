;;; test_result.el --- what an Emacs test driver saw, written as JSON to $LLM_LSP_TEST_OUT  -*- lexical-binding: t; -*-
;; Loaded by driver.el (Eglot), lsp_mode_driver.el (lsp-mode) and inline_driver.el (both): one way to
;; record and finish, to wait, and to quieten lsp-mode for batch use.
(require 'json)

(defvar llm-lsp-test--result nil)
(defun llm-lsp-test--put (key value) (push (cons key value) llm-lsp-test--result))
(defun llm-lsp-test--finish (ok &optional err)
  (llm-lsp-test--put "ok" (if ok t :json-false))
  (when err (llm-lsp-test--put "error" err))
  (with-temp-file (getenv "LLM_LSP_TEST_OUT")
    (insert (json-encode llm-lsp-test--result)))
  (kill-emacs 0))

(defun llm-lsp-test--wait (predicate seconds what)
  "Process input until PREDICATE holds, at most SECONDS; else fail saying WHAT."
  (let ((deadline (+ (float-time) seconds)))
    (while (and (not (funcall predicate)) (< (float-time) deadline))
      (accept-process-output nil 0.02))
    (or (funcall predicate) (error "timed out waiting for %s" what))))

(defun llm-lsp-test--quiet-lsp-mode ()
  "A quiet lsp-mode for batch use: no client packages other than ours, no prompts, no file watchers."
  (setq lsp-session-file (expand-file-name "lsp-session" (getenv "HOME"))
        lsp-client-packages nil
        lsp-enabled-clients '(llm-lsp)
        lsp-auto-guess-root nil
        lsp-enable-file-watchers nil
        lsp-headerline-breadcrumb-enable nil
        lsp-modeline-code-actions-enable nil
        lsp-modeline-diagnostics-enable nil
        lsp-modeline-workspace-status-enable nil
        lsp-lens-enable nil
        lsp-enable-snippet nil
        lsp-restart 'ignore
        lsp-keep-workspace-alive nil
        lsp-response-timeout 30))

