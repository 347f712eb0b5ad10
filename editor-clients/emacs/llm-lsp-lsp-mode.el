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
;; inline completion: llm-lsp-inline.el draws it instead (TAB accepts, M-f a word, C-e a line,
;; M-] / M-[ cycle, C-g hides), and llm-lsp is declared as an inline-completion client so the
;; suggestion is not also a completion-list item.  With `llm-lsp-ghost-text' nil, lsp-mode 8.0 gets
;; the suggestion as a completion item.  M-x llm-lsp-stats shows your acceptance figures.
;; Quick fixes: M-x lsp-execute-code-action ("Fix with AI: ..."); lsp-mode sends the diagnostics of
;; all its servers in the context.  Commands: M-x llm-lsp-explain and friends below.
;; Tested in CI with Emacs 28.2 + lsp-mode 8.0.0 in batch (tests/editors/test_emacs.py): attach, the
;; completion item, "Fix with AI" through `lsp-execute-code-action', and M-x llm-lsp-document.

;;; Code:

(require 'lsp-mode)
(require 'cl-lib)
(require 'llm-lsp-inline)

(defgroup llm-lsp nil "AI pair programmer through the llm-lsp language server." :group 'tools)

(defcustom llm-lsp-command '("llm-lsp") "The llm-lsp command and arguments." :type '(repeat string))
(defcustom llm-lsp-model "" "Model name (llmLsp.model); empty: LLM_LSP_MODEL or offline." :type 'string)
(defcustom llm-lsp-base-url "" "OpenAI-compatible base URL (llmLsp.baseUrl)." :type 'string)
(defcustom llm-lsp-prompt-mode "auto" "llmLsp.promptMode: auto, fim or chat." :type 'string)
(defcustom llm-lsp-completion-enable t "llmLsp.completion.enable." :type 'boolean)
(defcustom llm-lsp-completion-disabled-languages [] "llmLsp.completion.disabledLanguages (a vector)." :type 'sexp)
(defcustom llm-lsp-log-level "info" "llmLsp.logLevel." :type 'string)
(defcustom llm-lsp-inline-completion-key (kbd "M-\\") "Key asking for a suggestion at point." :type 'key-sequence)
(defcustom llm-lsp-ghost-text t
  "With an lsp-mode that has no inline completion (8.0): draw ghost text with llm-lsp-inline.el.
Nil: the suggestion is a completion-list item there."
  :type 'boolean)

(defun llm-lsp--own-inline-ui-p ()
  "Non-nil when this lsp-mode has no inline completion and llm-lsp-inline.el draws it."
  (and llm-lsp-ghost-text (not (fboundp 'lsp-inline-completion-mode))
       (not (locate-library "lsp-inline-completion"))))

;; lsp-mode 8.0 builds every client's capabilities in one function and only appends custom ones at the
;; top level (a second textDocument entry would replace the first).  Our client marks its custom
;; capabilities; for that client only, inline completion joins the textDocument entry.
(defconst llm-lsp--capability-marker '((experimental . ((llmLspGhostText . t)))))

(defun llm-lsp--declare-inline-completion (capabilities &optional custom)
  "CAPABILITIES with textDocument.inlineCompletion when CUSTOM is llm-lsp's marker."
  (if (not (eq custom llm-lsp--capability-marker))
      capabilities
    (mapcar (lambda (entry)
              (if (eq (car entry) 'textDocument)
                  (cons 'textDocument
                        (append (cdr entry) '((inlineCompletion . ((dynamicRegistration . :json-false))))))
                entry))
            capabilities)))

(advice-add 'lsp--client-capabilities :around
            (lambda (build &optional custom)
              (llm-lsp--declare-inline-completion (funcall build custom) custom))
            '((name . llm-lsp-inline-capability)))

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
  :custom-capabilities (and (llm-lsp--own-inline-ui-p) llm-lsp--capability-marker)
  :initialization-options #'llm-lsp--initialization-options
  :initialized-fn (lambda (workspace)
                    (with-lsp-workspace workspace
                      (lsp--set-configuration (lsp-configuration-section "llmLsp"))))
  :notification-handlers
  (ht ("llmLsp/status" (lambda (_workspace params)
                         (setq llm-lsp-status params)
                         (force-mode-line-update t))))))

(defun llm-lsp--inline-backend (workspace)
  "How llm-lsp-inline.el reaches llm-lsp's WORKSPACE through lsp-mode (never the buffer's other servers)."
  (list :params #'lsp--text-document-position-params
        :request (lambda (params on-result)
                   (with-lsp-workspace workspace
                     (lsp-request-async "textDocument/inlineCompletion" params on-result
                                        :mode 'alive :error-handler #'ignore)))
        :notify (lambda (method params) (with-lsp-workspace workspace (lsp-notify method params)))
        :execute (lambda (command)
                   (with-lsp-workspace workspace
                     (lsp-request-async "workspace/executeCommand"
                                        (list :command (llm-lsp-inline--get command :command)
                                              :arguments (or (llm-lsp-inline--get command :arguments) []))
                                        #'ignore :mode 'detached :error-handler #'ignore)))
        :to-point #'lsp--position-to-point))

(defun llm-lsp--enable-inline-completion ()
  "Ghost text in buffers where llm-lsp runs."
  (when-let ((workspace (lsp-find-workspace 'llm-lsp nil)))
    (require 'lsp-inline-completion nil t)
    (cond
     ((fboundp 'lsp-inline-completion-mode)
      (lsp-inline-completion-mode 1)
      (when (fboundp 'lsp-inline-completion-display)
        (local-set-key llm-lsp-inline-completion-key #'lsp-inline-completion-display)))
     ((llm-lsp--own-inline-ui-p)
      (setq llm-lsp-inline-backend (llm-lsp--inline-backend workspace))
      (llm-lsp-inline-mode 1)
      (local-set-key llm-lsp-inline-completion-key #'llm-lsp-inline-suggest)))))

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

(defun llm-lsp-stats ()
  "Show your acceptance figures (llm-lsp.showStats: counts kept on this machine, sent nowhere)."
  (interactive)
  (let ((text (with-lsp-workspace (lsp-find-workspace 'llm-lsp nil)
                (lsp-workspace-command-execute "llm-lsp.showStats" (vector (list :format "text"))))))
    (with-current-buffer (get-buffer-create "*llm-lsp*")
      (let ((inhibit-read-only t)) (erase-buffer) (insert text) (special-mode)))
    (display-buffer "*llm-lsp*")
    text))

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
