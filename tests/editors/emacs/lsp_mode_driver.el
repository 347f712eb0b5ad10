;;; lsp_mode_driver.el --- batch driver for the lsp-mode test in test_emacs.py -*- lexical-binding: t; -*-
;; Loads editor-clients/emacs/llm-lsp-lsp-mode.el into the installed lsp-mode and, with lsp-mode's own
;; functions: attaches to a Python file, asks `completion-at-point' (lsp-mode's capf) for the candidates
;; at the end of line 2, applies the "Fix with AI" code action with `lsp-execute-code-action' in a
;; second file, then runs M-x llm-lsp-document there (workspace/executeCommand, whose edit comes back
;; through workspace/applyEdit). Writes what it saw as JSON to $LLM_LSP_TEST_OUT.
(require 'json)
(require 'cl-lib)

(load (expand-file-name "test_result.el" (file-name-directory load-file-name)) nil t)

(llm-lsp-test--quiet-lsp-mode)
(require 'lsp-mode)
(require 'lsp-completion)
(setq llm-lsp-ghost-text nil)           ; the completion-list item is checked here (inline_driver.el: ghost text)
(require 'llm-lsp-lsp-mode)
(setq llm-lsp-command (append (json-read-from-string (getenv "LLM_LSP_CMD_JSON")) nil)
      llm-lsp-log-level "debug")

(defun llm-lsp-test--attach (file)
  (find-file file)
  (python-mode)
  (lsp)
  (llm-lsp-test--wait (lambda () (cl-some (lambda (ws) (eq (lsp--workspace-status ws) 'initialized))
                                          (lsp-workspaces)))
                      30 (format "lsp-mode to attach llm-lsp to %s" file)))

(condition-case err
    (progn
      (lsp-workspace-folders-add (file-name-directory (getenv "LLM_LSP_TEST_FILE")))
      ;; 1. attach
      (llm-lsp-test--attach (getenv "LLM_LSP_TEST_FILE"))
      (let ((ws (car (lsp-workspaces))))
        (llm-lsp-test--put "attached" t)
        (llm-lsp-test--put "server_id" (symbol-name (lsp--client-server-id (lsp--workspace-client ws))))
        (llm-lsp-test--put "lsp_mode_version" (lsp-version))
        (llm-lsp-test--put "inline_completion_mode" (if (fboundp 'lsp-inline-completion-mode) t :json-false)))
      ;; 2. the completion list at the end of line 2, through lsp-mode's completion-at-point function
      (goto-char (point-min)) (forward-line 1) (end-of-line)
      (let* ((capf (lsp-completion-at-point))
             (candidates (and capf (all-completions "" (nth 2 capf)))))
        (llm-lsp-test--put "completion_items"
                           (vconcat (mapcar (lambda (c)
                                              (let ((item (get-text-property 0 'lsp-completion-item c)))
                                                (or (and item (lsp:completion-item-insert-text? item))
                                                    (and item (lsp:text-edit-new-text
                                                               (or (lsp:completion-item-text-edit? item)
                                                                   (lsp-make-text-edit :new-text ""))))
                                                    (substring-no-properties c))))
                                            candidates))))
      (llm-lsp-test--put "status" (or (and llm-lsp-status (gethash "state" llm-lsp-status)) ""))
      ;; 3. the quick fix in a second file, for a diagnostic another tool reported
      (llm-lsp-test--attach (getenv "LLM_LSP_TEST_FIX_FILE"))
      (goto-char (point-min)) (forward-line 1)
      (let* ((range (list :start (lsp-point-to-position (line-beginning-position))
                          :end (lsp-point-to-position (line-end-position))))
             (diag (list :range range :severity 1 :source "test-linter"
                         :message (getenv "LLM_LSP_TEST_DIAGNOSTIC")))
             (actions (append (lsp-request "textDocument/codeAction"
                                           (list :textDocument (lsp--text-document-identifier)
                                                 :range range
                                                 :context (list :diagnostics (vector diag))))
                              nil))
             (fix (cl-find-if (lambda (a) (string-prefix-p "Fix with AI" (lsp:code-action-title a))) actions)))
        (llm-lsp-test--put "titles" (vconcat (mapcar #'lsp:code-action-title actions)))
        (unless fix (error "no Fix with AI action among %S" (mapcar #'lsp:code-action-title actions)))
        (lsp-execute-code-action fix)
        (llm-lsp-test--wait (lambda () (not (string-match-p "return a +$" (buffer-string)))) 30
                            "the fix to reach the buffer")
        (llm-lsp-test--put "fixed_text" (buffer-substring-no-properties (point-min) (point-max))))
      ;; 4. a command: M-x llm-lsp-document on the function (its edit arrives as workspace/applyEdit)
      (let ((before (buffer-string)))
        (goto-char (point-min))
        (transient-mark-mode 1)          ; on in an interactive Emacs, off in batch
        (push-mark (save-excursion (forward-line 1) (line-end-position)) t t)
        (llm-lsp-test--put "command_result" (or (llm-lsp-document) ""))
        (llm-lsp-test--wait (lambda () (not (equal before (buffer-string)))) 30 "the command's edit")
        (llm-lsp-test--put "documented_text" (buffer-substring-no-properties (point-min) (point-max))))
      (llm-lsp-test--finish t))
  (error (llm-lsp-test--finish nil (error-message-string err))))
