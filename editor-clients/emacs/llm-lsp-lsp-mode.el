;;; llm-lsp-lsp-mode.el --- llm-lsp (AI pair programmer) through lsp-mode -*- lexical-binding: t; -*-

;; Version: 0.1.0
;; Package-Requires: ((emacs "28.1") (lsp-mode "8.0.0"))

;;; Commentary:

;; Registers llm-lsp as an lsp-mode ADD-ON client: it runs next to the buffer's usual language
;; server (pyright, gopls, ...) in every file, and turns on `lsp-inline-completion-mode' (ghost
;; text) where lsp-mode has it.
;;
;;   (add-to-list 'load-path "/path/to/llm-lsp/editor-clients/emacs")
;;   (with-eval-after-load 'lsp-mode (require 'llm-lsp-lsp-mode))
;;   (setq llm-lsp-model "qwen2.5-coder:7b" llm-lsp-base-url "http://127.0.0.1:11434/v1")
;;   (add-hook 'prog-mode-hook #'lsp-deferred)
;;
;; Ghost text: an lsp-mode newer than 8.0 with `lsp-inline-completion-mode' shows suggestions while
;; typing; M-x lsp-inline-completion-display (bound below to `llm-lsp-inline-completion-key') asks at
;; point; RET accepts, C-n / C-p cycle, C-g cancels.  lsp-mode 8.0 (Debian's elpa-lsp-mode) has no
;; inline completion: it declares none, so the server offers the suggestion as a completion item.
;; Quick fixes: M-x lsp-execute-code-action ("Fix with AI: ..."); lsp-mode sends the diagnostics of
;; all its servers in the context.  Commands: M-x llm-lsp-explain and friends below.
;; Tested in CI with Emacs 28.2 + lsp-mode 8.0.0 in batch (tests/editors/test_emacs.py): attach, the
;; completion item, "Fix with AI" through `lsp-execute-code-action', and M-x llm-lsp-document.

;;; Code:

(require 'lsp-mode)
(require 'cl-lib)

(defgroup llm-lsp nil "AI pair programmer through the llm-lsp language server." :group 'tools)

(defcustom llm-lsp-command '("llm-lsp") "The llm-lsp command and arguments." :type '(repeat string))
(defcustom llm-lsp-model "" "Model name (llmLsp.model); empty: LLM_LSP_MODEL or offline." :type 'string)
(defcustom llm-lsp-base-url "" "OpenAI-compatible base URL (llmLsp.baseUrl)." :type 'string)
(defcustom llm-lsp-prompt-mode "auto" "llmLsp.promptMode: auto, fim or chat." :type 'string)
(defcustom llm-lsp-completion-enable t "llmLsp.completion.enable." :type 'boolean)
(defcustom llm-lsp-completion-disabled-languages [] "llmLsp.completion.disabledLanguages (a vector)." :type 'sexp)
(defcustom llm-lsp-log-level "info" "llmLsp.logLevel." :type 'string)
(defcustom llm-lsp-inline-completion-key (kbd "M-\\") "Key asking for a suggestion at point." :type 'key-sequence)

;; workspace/configuration section "llmLsp" (lsp-mode answers it from these).  An empty model is
;; left out (lsp-mode drops nil values): sent as "", it would override LLM_LSP_MODEL and mean offline.
(defun llm-lsp--model-setting ()
  "`llm-lsp-model', or nil when empty."
  (unless (string-empty-p llm-lsp-model) llm-lsp-model))

(lsp-register-custom-settings
 '(("llmLsp.model" llm-lsp--model-setting)
   ("llmLsp.promptMode" llm-lsp-prompt-mode)
   ("llmLsp.completion.enable" llm-lsp-completion-enable t)
   ("llmLsp.completion.disabledLanguages" llm-lsp-completion-disabled-languages)
   ("llmLsp.logLevel" llm-lsp-log-level)))

(defvar llm-lsp-status nil "The last llmLsp/status params (a hash table).")

(defun llm-lsp--initialization-options ()
  "initializationOptions: the settings the server takes only at start, plus the rest."
  (let ((opts (list :promptMode llm-lsp-prompt-mode
                    :logLevel llm-lsp-log-level
                    :completion (list :enable (if llm-lsp-completion-enable t :json-false)
                                      :disabledLanguages llm-lsp-completion-disabled-languages))))
    (unless (string-empty-p llm-lsp-model) (setq opts (plist-put opts :model llm-lsp-model)))
    (unless (string-empty-p llm-lsp-base-url) (setq opts (plist-put opts :baseUrl llm-lsp-base-url)))
    opts))

(lsp-register-client
 (make-lsp-client
  :new-connection (lsp-stdio-connection (lambda () llm-lsp-command))
  :activation-fn (lambda (&rest _) t)   ; every file
  :add-on? t                            ; next to the buffer's own language server
  :priority -2
  :server-id 'llm-lsp
  :initialization-options #'llm-lsp--initialization-options
  :initialized-fn (lambda (workspace)
                    (with-lsp-workspace workspace
                      (lsp--set-configuration (lsp-configuration-section "llmLsp"))))
  :notification-handlers
  (ht ("llmLsp/status" (lambda (_workspace params)
                         (setq llm-lsp-status params)
                         (force-mode-line-update t))))))

(defun llm-lsp--enable-inline-completion ()
  "Ghost text in buffers where llm-lsp runs."
  (when (lsp-find-workspace 'llm-lsp nil)
    (require 'lsp-inline-completion nil t)
    (when (fboundp 'lsp-inline-completion-mode)
      (lsp-inline-completion-mode 1))
    (when (fboundp 'lsp-inline-completion-display)
      (local-set-key llm-lsp-inline-completion-key #'lsp-inline-completion-display))))

(add-hook 'lsp-after-open-hook #'llm-lsp--enable-inline-completion)

(defun llm-lsp--command (name &optional instruction)
  "Run llm-lsp.NAME on the region (or the current line)."
  (let* ((beg (if (use-region-p) (region-beginning) (line-beginning-position)))
         (end (if (use-region-p) (region-end) (line-end-position)))
         (arg (list :uri (lsp--buffer-uri)
                    :range (list :start (lsp-point-to-position beg) :end (lsp-point-to-position end)))))
    (when instruction (setq arg (plist-put arg :instruction instruction)))
    (let ((result (lsp-workspace-command-execute (concat "llm-lsp." name) (vector arg))))
      (when (and (stringp result) (not (string-empty-p result)))
        (with-current-buffer (get-buffer-create "*llm-lsp*")
          (let ((inhibit-read-only t)) (erase-buffer) (insert result) (special-mode)))
        (display-buffer "*llm-lsp*"))
      result)))

(defun llm-lsp-explain () "Explain the region." (interactive) (llm-lsp--command "explain"))
(defun llm-lsp-document () "Document the region." (interactive) (llm-lsp--command "document"))
(defun llm-lsp-tests () "Generate tests for the region." (interactive) (llm-lsp--command "tests"))
(defun llm-lsp-simplify () "Simplify the region." (interactive) (llm-lsp--command "simplify"))
(defun llm-lsp-fix-region () "Fix the region." (interactive) (llm-lsp--command "fix"))
(defun llm-lsp-refactor (instruction)
  "Rewrite the region following INSTRUCTION."
  (interactive "sRefactor instruction: ")
  (llm-lsp--command "refactor" instruction))

(provide 'llm-lsp-lsp-mode)
;;; llm-lsp-lsp-mode.el ends here
