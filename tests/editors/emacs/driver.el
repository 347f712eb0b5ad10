;;; driver.el --- batch driver for tests/editors/test_emacs.py -*- lexical-binding: t; -*-
;; Loads editor-clients/emacs/llm-lsp-eglot.el, attaches Eglot to a Python file, asks for the
;; completion item and the inline completion at the end of line 2, then applies the "Fix with AI"
;; quick fix in a second file, and writes what it saw as JSON to $LLM_LSP_TEST_OUT.
(require 'json)
(require 'cl-lib)
(require 'llm-lsp-eglot)

(load (expand-file-name "test_result.el" (file-name-directory load-file-name)) nil t)

(setq llm-lsp-command (json-read-from-string (getenv "LLM_LSP_CMD_JSON"))
      llm-lsp-ghost-text nil            ; the completion-list item is checked here (inline_driver.el: ghost text)
      llm-lsp-settings '(:logLevel "debug")
      eglot-sync-connect t
      eglot-connect-timeout 30
      eglot-events-buffer-size 0)
(llm-lsp-eglot-setup)

(condition-case err
    (progn
      ;; 1. attach
      (find-file (getenv "LLM_LSP_TEST_FILE"))
      (python-mode)
      (apply #'eglot (eglot--guess-contact))
      (let ((deadline (+ (float-time) 30)))
        (while (and (not (eglot-current-server)) (< (float-time) deadline))
          (accept-process-output nil 0.05)))
      (let ((server (eglot-current-server)))
        (unless server (error "eglot did not attach"))
        (llm-lsp-test--put "attached" t)
        (let ((caps (eglot--capabilities server)))
          (llm-lsp-test--put "inlineCompletionProvider" (if (plist-member caps :inlineCompletionProvider) t :json-false))
          (llm-lsp-test--put "codeActionProvider" (if (plist-get caps :codeActionProvider) t :json-false)))
        ;; 2. completion item at the end of line 2
        (goto-char (point-min)) (forward-line 1) (end-of-line)
        (let* ((completion (jsonrpc-request server :textDocument/completion (eglot--CompletionParams) :timeout 20))
               (items (append (if (vectorp completion) completion (plist-get completion :items)) nil)))
          (llm-lsp-test--put "completion_items"
                             (vconcat (mapcar (lambda (i)
                                                (or (plist-get (plist-get i :textEdit) :newText)
                                                    (plist-get i :insertText)
                                                    (plist-get i :label)))
                                              items))))
        ;; 3. inline completion through a raw request
        (llm-lsp-test--put "inline_items"
                           (vconcat (mapcar (lambda (i)
                                              (let ((text (plist-get i :insertText)))
                                                (if (stringp text) text (plist-get text :value))))
                                            (llm-lsp-inline-completion))))
        (llm-lsp-test--put "status" (or (plist-get llm-lsp-status :state) ""))
        ;; 4. quick fix in a second file, for a diagnostic another tool reported
        (when (getenv "LLM_LSP_TEST_FIX_FILE")
          (if (not (plist-get (eglot--capabilities server) :codeActionProvider))
              (llm-lsp-test--put "fix_skipped" "server does not advertise codeActionProvider")
            (find-file (getenv "LLM_LSP_TEST_FIX_FILE"))
            (python-mode)
            (eglot--maybe-activate-editing-mode)
            (let ((deadline (+ (float-time) 10)))
              (while (and (not (eglot-current-server)) (< (float-time) deadline))
                (accept-process-output nil 0.05)))
            (goto-char (point-min)) (forward-line 1)
            (let* ((beg (line-beginning-position)) (end (line-end-position))
                   (diag (list :range (llm-lsp--range beg end) :severity 1
                               :message (getenv "LLM_LSP_TEST_DIAGNOSTIC") :source "test-linter"))
                   (titles (mapcar (lambda (a) (plist-get a :title))
                                   (append (llm-lsp-code-actions beg end (list diag)) nil))))
              (llm-lsp-test--put "titles" (vconcat titles))
              (llm-lsp-fix (list diag))
              (llm-lsp-test--put "fixed_text" (buffer-substring-no-properties (point-min) (point-max))))))
        (llm-lsp-test--finish t)))
  (error (llm-lsp-test--finish nil (error-message-string err))))
