;;; next_edit_driver.el --- batch driver for tests/editors/test_emacs_next_edit.py -*- lexical-binding: t; -*-
;; Loads editor-clients/emacs/llm-lsp-eglot.el and llm-lsp-next-edit.el, attaches Eglot to a Python
;; file, changes a function's signature, waits for the next-edit overlay, presses TAB (jump) and TAB
;; (apply), then accepts the rest of the prediction the same way, and writes what it saw as JSON to
;; $LLM_LSP_TEST_OUT.
(require 'json)
(require 'cl-lib)
(require 'llm-lsp-eglot)
(require 'llm-lsp-next-edit)

(load (expand-file-name "test_result.el" (file-name-directory load-file-name)) nil t)

(setq llm-lsp-command (json-read-from-string (getenv "LLM_LSP_CMD_JSON"))
      llm-lsp-settings '(:logLevel "debug" :nextEdit (:enable t))
      llm-lsp-next-edit-delay 0.2
      eglot-sync-connect t
      eglot-connect-timeout 30
      eglot-events-buffer-size 0)
(llm-lsp-eglot-setup)

(defvar llm-lsp-test--commands nil)
(defvar llm-lsp-test--notifications nil)
(advice-add 'jsonrpc-request :before
            (lambda (_server method params &rest _)
              (when (eq method :workspace/executeCommand)
                (push (plist-get params :command) llm-lsp-test--commands))))
(advice-add 'jsonrpc-notify :before
            (lambda (_server method &rest _)
              (push (string-remove-prefix ":" (symbol-name method)) llm-lsp-test--notifications)))

(defun llm-lsp-test--wait (what predicate &optional seconds)
  (let ((deadline (+ (float-time) (or seconds 15))))
    (while (and (not (funcall predicate)) (< (float-time) deadline))
      (accept-process-output nil 0.05))
    (unless (funcall predicate) (error "timed out waiting for %s" what))))

(defun llm-lsp-test--shown ()
  (let ((overlay (plist-get llm-lsp-next-edit--shown :overlay)))
    (list (cons "text" (plist-get llm-lsp-next-edit--shown :text))
          (cons "start" (list (line-number-at-pos (overlay-start overlay)) (save-excursion (goto-char (overlay-start overlay)) (current-column))))
          (cons "end" (list (line-number-at-pos (overlay-end overlay)) (save-excursion (goto-char (overlay-end overlay)) (current-column))))
          (cons "face" (symbol-name (overlay-get overlay 'face)))
          (cons "after_string" (or (overlay-get overlay 'after-string) ""))
          (cons "after_face" (let ((s (overlay-get overlay 'after-string))) (if s (symbol-name (get-text-property 0 'face s)) ""))))))

(defun llm-lsp-test--tab-tab (label)
  (let ((before (buffer-string)))
    (execute-kbd-macro (kbd "TAB"))
    (llm-lsp-test--put (concat "point_after_jump_" label) (list (line-number-at-pos) (current-column)))
    (llm-lsp-test--put (concat "unchanged_after_jump_" label) (if (equal before (buffer-string)) t :json-false))
    (execute-kbd-macro (kbd "TAB"))
    (llm-lsp-test--put (concat "text_" label) (buffer-substring-no-properties (point-min) (point-max)))))

(condition-case err
    (progn
      (find-file (getenv "LLM_LSP_TEST_FILE"))
      (python-mode)
      (apply #'eglot (eglot--guess-contact))
      (llm-lsp-test--wait "eglot" #'eglot-current-server 30)
      (llm-lsp-next-edit-mode 1)
      (llm-lsp-test--put "attached" t)
      ;; The user adds a parameter, point stays on line 1.
      (goto-char (point-min))
      (search-forward "(w")
      (insert ", h")
      (llm-lsp-test--wait "the next-edit overlay" #'llm-lsp-next-edit-visible)
      (llm-lsp-test--put "shown" (llm-lsp-test--shown))
      (llm-lsp-test--tab-tab "first")
      ;; The rest of the prediction (the call below) follows.
      (llm-lsp-test--wait "the rest of the prediction" #'llm-lsp-next-edit-visible)
      (llm-lsp-test--put "shown_rest" (llm-lsp-test--shown))
      (llm-lsp-test--tab-tab "second")
      (llm-lsp-test--wait "the second accept" (lambda () (>= (length llm-lsp-test--commands) 2)) 5)
      (llm-lsp-test--put "commands" (vconcat (reverse llm-lsp-test--commands)))
      (llm-lsp-test--put "notifications" (vconcat (reverse llm-lsp-test--notifications)))
      (llm-lsp-test--finish t))
  (error (llm-lsp-test--finish nil (error-message-string err))))
