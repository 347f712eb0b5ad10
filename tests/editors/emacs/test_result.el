;;; test_result.el --- what an Emacs test driver saw, written as JSON to $LLM_LSP_TEST_OUT  -*- lexical-binding: t; -*-
;; Loaded by driver.el (Eglot) and lsp_mode_driver.el (lsp-mode): one way to record and finish.
(require 'json)

(defvar llm-lsp-test--result nil)
(defun llm-lsp-test--put (key value) (push (cons key value) llm-lsp-test--result))
(defun llm-lsp-test--finish (ok &optional err)
  (llm-lsp-test--put "ok" (if ok t :json-false))
  (when err (llm-lsp-test--put "error" err))
  (with-temp-file (getenv "LLM_LSP_TEST_OUT")
    (insert (json-encode llm-lsp-test--result)))
  (kill-emacs 0))
