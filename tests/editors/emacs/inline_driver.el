;;; inline_driver.el --- ghost text in Emacs (Eglot or lsp-mode), for test_emacs.py -*- lexical-binding: t; -*-
;; Loads the client named by $LLM_LSP_TEST_CLIENT (eglot or lsp-mode) from editor-clients/emacs, attaches
;; to $LLM_LSP_TEST_FILE and, with the keys of `llm-lsp-inline-active-map' played through
;; `execute-kbd-macro': types on line 2 until ghost text shows a multi-line suggestion, accepts its
;; next word (M-f), its next line (C-e) and the rest (TAB), recording after each partial accept the
;; ghost text at once and again 0.5 s later (no request may go out); then on the last line types,
;; cycles alternatives (M-] M-] M-[) and accepts one. Finally asks for llm-lsp.showStats (which also
;; writes the figures). Writes what it saw as JSON to $LLM_LSP_TEST_OUT.
(require 'json)
(require 'cl-lib)

(load (expand-file-name "test_result.el" (file-name-directory load-file-name)) nil t)

(defvar llm-lsp-test--client (getenv "LLM_LSP_TEST_CLIENT"))
(defvar llm-lsp-test--events nil "Methods of the notifications llm-lsp-inline sent.")
(defvar llm-lsp-test--requests 0 "Inline completion requests sent.")

(if (equal llm-lsp-test--client "eglot")
    (progn
      (require 'llm-lsp-eglot)
      (setq llm-lsp-command (json-read-from-string (getenv "LLM_LSP_CMD_JSON"))
            eglot-sync-connect t
            eglot-connect-timeout 30
            eglot-events-buffer-size 0)
      (llm-lsp-eglot-setup))
  (llm-lsp-test--quiet-lsp-mode)
  (require 'lsp-mode)
  (require 'llm-lsp-lsp-mode)
  (setq llm-lsp-command (append (json-read-from-string (getenv "LLM_LSP_CMD_JSON")) nil)))

(defun llm-lsp-test--attach (file)
  (find-file file)
  (python-mode)
  (if (equal llm-lsp-test--client "eglot")
      (apply #'eglot (eglot--guess-contact))
    (lsp-workspace-folders-add (file-name-directory file))
    (lsp))
  (llm-lsp-test--wait (lambda () (bound-and-true-p llm-lsp-inline-mode)) 30 "llm-lsp-inline-mode to turn on")
  ;; Record what the mode sends, around the backend the client set up.
  (let* ((backend llm-lsp-inline-backend)
         (notify (plist-get backend :notify))
         (request (plist-get backend :request)))
    (setq llm-lsp-inline-backend
          (plist-put (plist-put (copy-sequence backend)
                                :notify (lambda (method params)
                                          (push (list method (plist-get params :acceptedLength))
                                                llm-lsp-test--events)
                                          (funcall notify method params)))
                     :request (lambda (params on-result)
                                (cl-incf llm-lsp-test--requests)
                                (funcall request params on-result))))))

(defun llm-lsp-test--key (keys what)
  "Play KEYS; return once the buffer changed (or the ghost text did), failing after a while."
  (let ((text (buffer-string)) (ghost (llm-lsp-inline-suggestion)))
    (execute-kbd-macro (kbd keys))
    (llm-lsp-test--wait (lambda () (or (not (equal text (buffer-string)))
                                       (not (equal ghost (llm-lsp-inline-suggestion)))))
                        15 what)))

(defun llm-lsp-test--line ()
  (buffer-substring-no-properties (line-beginning-position) (line-end-position)))

(condition-case err
    (progn
      (llm-lsp-test--attach (getenv "LLM_LSP_TEST_FILE"))
      (llm-lsp-test--put "attached" t)
      ;; 1. A multi-line suggestion on line 2, taken a word, a line, then the rest.
      (goto-char (point-min)) (forward-line 1) (end-of-line)
      (execute-kbd-macro (kbd "SPC"))
      (llm-lsp-test--wait #'llm-lsp-inline-suggestion 20 "ghost text")
      (llm-lsp-test--put "suggestion" (llm-lsp-inline-suggestion))
      (let ((requests llm-lsp-test--requests))
        (llm-lsp-test--key "M-f" "accept word")
        (llm-lsp-test--put "ghost_after_word" (llm-lsp-inline-suggestion))
        (llm-lsp-test--put "line_after_word" (llm-lsp-test--line))
        (sleep-for 0.5)
        (llm-lsp-test--put "ghost_later_word" (llm-lsp-inline-suggestion))
        (llm-lsp-test--key "C-e" "accept line")
        (llm-lsp-test--put "ghost_after_line" (llm-lsp-inline-suggestion))
        (sleep-for 0.5)
        (llm-lsp-test--put "ghost_later_line" (llm-lsp-inline-suggestion))
        (llm-lsp-test--put "requests_during_partial" (- llm-lsp-test--requests requests))
        (llm-lsp-test--key "TAB" "accept all")
        (llm-lsp-test--put "ghost_after_all" (llm-lsp-inline-suggestion)))
      (llm-lsp-test--put "text_after_accept" (buffer-substring-no-properties (point-min) (point-max)))
      ;; 2. Alternatives on the last line: M-] asks for them once, M-] and M-[ cycle, TAB accepts.
      (goto-char (point-max)) (forward-line -1) (end-of-line)
      (execute-kbd-macro (kbd "SPC"))
      (llm-lsp-test--wait #'llm-lsp-inline-suggestion 20 "ghost text on the last line")
      (let ((cycled nil))
        (llm-lsp-test--put "first_alternative" (llm-lsp-inline-suggestion))
        (dolist (key '("M-]" "M-]" "M-["))
          (llm-lsp-test--key key (concat "alternative after " key))
          (push (llm-lsp-inline-suggestion) cycled))
        (llm-lsp-test--put "cycled" (vconcat (nreverse cycled))))
      (llm-lsp-test--key "TAB" "accept the alternative")
      (llm-lsp-test--put "final_text" (buffer-substring-no-properties (point-min) (point-max)))
      (llm-lsp-test--put "events" (vconcat (mapcar (lambda (e) (vector (car e) (cadr e)))
                                                   (reverse llm-lsp-test--events))))
      ;; 3. The figures (the command also writes them before Emacs goes).
      (llm-lsp-stats)
      (llm-lsp-test--wait (lambda () (get-buffer "*llm-lsp*")) 10 "the stats buffer")
      (llm-lsp-test--put "stats" (with-current-buffer "*llm-lsp*" (buffer-string)))
      (llm-lsp-test--finish t))
  (error (llm-lsp-test--finish nil (error-message-string err))))
